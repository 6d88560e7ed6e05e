import { Module } from '@nestjs/common';
import { DashboardController } from './dashboard.controller.js';
import { TopSongsController } from './top-songs.controller.js';
import { TopSongs } from './top-songs.service.js';

/** Reads the plays table back: GET /api/top-songs and the live dashboard at GET /dashboard. */
@Module({
  providers: [TopSongs],
  controllers: [TopSongsController, DashboardController],
})
export class TopSongsModule {}
