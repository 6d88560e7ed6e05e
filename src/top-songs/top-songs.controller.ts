import {
  Controller,
  Get,
  Header,
  HttpException,
  HttpStatus,
  Query,
  Res,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { Response } from 'express';
import { QueryBudgetExceeded } from './query-budget.js';
import {
  ParseArtistsRequest,
  ParsePlaysOverTimeRequest,
  ParseTopSongsRequest,
  type ArtistsRequest,
  type PlaysOverTimeRequest,
  type TopSongsRequest,
} from './top-songs-request.js';
import type { ArtistsAnswer, PlaysOverTimeAnswer, TopSongsAnswer } from './top-songs-answer.js';
import { TopSongsUnavailable } from './top-songs-query-runner.js';
import { TopSongs } from './top-songs.service.js';

/** Read-only answers from the plays table. 400 for bad parameters, 429 over the query budget, 503 when BigQuery cannot answer. */
@Controller('api')
export class TopSongsController {
  constructor(private readonly topSongs: TopSongs) {}

  /** `?window=15m&limit=10&artist=tony-allen`: plays per song over the window, most played first. */
  @Get('top-songs')
  @Header('Cache-Control', 'no-store')
  topSongsOf(
    @Query(new ParseTopSongsRequest()) request: TopSongsRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<TopSongsAnswer> {
    return answer(() => this.topSongs.topSongs(request), res);
  }

  /** `?window=15m&limit=100`: plays per artist over the window, most played first. */
  @Get('artists')
  @Header('Cache-Control', 'no-store')
  artists(
    @Query(new ParseArtistsRequest()) request: ArtistsRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ArtistsAnswer> {
    return answer(() => this.topSongs.artists(request), res);
  }

  /** `?window=1h&songs=5&artist=tony-allen`: the top songs' plays per time bucket, every bucket present. */
  @Get('plays-over-time')
  @Header('Cache-Control', 'no-store')
  playsOverTime(
    @Query(new ParsePlaysOverTimeRequest()) request: PlaysOverTimeRequest,
    @Res({ passthrough: true }) res: Response,
  ): Promise<PlaysOverTimeAnswer> {
    return answer(() => this.topSongs.playsOverTime(request), res);
  }
}

/** The answer, or the HTTP error that says why there is none. */
async function answer<T>(ask: () => Promise<T>, res: Response): Promise<T> {
  try {
    // Called in here: over the query budget, asking throws before it returns a promise.
    return await ask();
  } catch (error) {
    if (error instanceof QueryBudgetExceeded) {
      res.setHeader('Retry-After', String(error.retryAfterSeconds));
      throw new HttpException(error.message, HttpStatus.TOO_MANY_REQUESTS);
    }
    if (error instanceof TopSongsUnavailable) throw new ServiceUnavailableException(error.message);
    throw error;
  }
}
