import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const INSTALL_HINT =
  "install Debian's chromium package (apt-get install chromium) or set PLAYS_CHROMIUM to a Chromium or Chrome binary";

/**
 * Debian's Chromium for the browser tests: PLAYS_CHROMIUM, else /usr/bin/chromium, else (as root on
 * Debian, like CI) installed with apt-get, so `npm test` needs no browser download of its own.
 */
export function chromiumPath(): string {
  const named = process.env.PLAYS_CHROMIUM;
  if (named) {
    if (!fs.existsSync(named)) throw new Error(`PLAYS_CHROMIUM=${named} does not exist; ${INSTALL_HINT}`);
    return named;
  }
  const debian = '/usr/bin/chromium';
  if (fs.existsSync(debian)) return debian;
  if (process.getuid?.() !== 0 || !fs.existsSync('/usr/bin/apt-get'))
    throw new Error(`the dashboard's browser test needs Chromium: ${INSTALL_HINT}`);
  process.stderr.write("chromium: not found, installing Debian's chromium package with apt-get (once)\n");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', '-qq', 'chromium'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  if (!fs.existsSync(debian)) throw new Error(`apt-get installed chromium, but ${debian} is missing`);
  return debian;
}

/** Headless Chromium with no network of its own beyond what the page asks for (this machine has none). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
