import { Controller, Get, Header, Query, ServiceUnavailableException } from '@nestjs/common';
import { ParseTopSongsRequest, type TopSongsRequest } from './top-songs-request.js';
import { TopSongs, TopSongsUnavailable, type TopSongsAnswer } from './top-songs.service.js';

@Controller('api')
export class TopSongsController {
  constructor(private readonly topSongs: TopSongs) {}

  /** `?window=15m&limit=10`: plays per song over the window, most played first. 400 for bad parameters. */
  @Get('top-songs')
  @Header('Cache-Control', 'no-store')
  async get(@Query(new ParseTopSongsRequest()) request: TopSongsRequest): Promise<TopSongsAnswer> {
    try {
      return await this.topSongs.get(request);
    } catch (error) {
      if (error instanceof TopSongsUnavailable) throw new ServiceUnavailableException(error.message);
      throw error;
    }
  }
}
