import { Module } from '@nestjs/common';
import { LiveModule } from '../live/live.module.js';
import { DashboardController } from './dashboard.controller.js';
import { LiveUpdatesController } from './live-updates.controller.js';
import { TopSongsController } from './top-songs.controller.js';
import { TopSongs } from './top-songs.service.js';

/** Reads the plays table back: GET /api/top-songs and the live dashboard at GET /dashboard. */
@Module({
  imports: [LiveModule],
  providers: [TopSongs],
  controllers: [TopSongsController, DashboardController, LiveUpdatesController],
})
export class TopSongsModule {}
