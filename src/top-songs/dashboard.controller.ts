import { createRequire } from 'node:module';
import path from 'node:path';
import { Controller, Get, Res } from '@nestjs/common';
import type { Response } from 'express';

const PAGE_DIR = path.join(import.meta.dirname, 'dashboard');
// The chart library ships with the app (a production dependency), so the page loads nothing from a CDN.
const CHART_JS = path.join(path.dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');

// The page runs only its own scripts and talks only to this app.
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
};

/** GET /dashboard: a live bar chart of the top songs, fed by GET /api/top-songs every 2 s. */
@Controller('dashboard')
export class DashboardController {
  @Get()
  page(@Res() res: Response): void {
    res.sendFile(path.join(PAGE_DIR, 'index.html'), { headers: PAGE_HEADERS });
  }

  @Get('dashboard.js')
  script(@Res() res: Response): void {
    res.sendFile(path.join(PAGE_DIR, 'dashboard.js'), { headers: PAGE_HEADERS });
  }

  @Get('dashboard-charts.js')
  chartsScript(@Res() res: Response): void {
    res.sendFile(path.join(PAGE_DIR, 'dashboard-charts.js'), { headers: PAGE_HEADERS });
  }

  @Get('dashboard.css')
  styles(@Res() res: Response): void {
    res.sendFile(path.join(PAGE_DIR, 'dashboard.css'), { headers: PAGE_HEADERS });
  }

  @Get('chart.umd.min.js')
  chartLibrary(@Res() res: Response): void {
    res.sendFile(CHART_JS, { headers: { ...PAGE_HEADERS, 'Cache-Control': 'public, max-age=86400' } });
  }
}
