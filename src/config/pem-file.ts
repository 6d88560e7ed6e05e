import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { z } from 'zod';

/**
 * A PEM file the service reads at start-up: readable now and parsable as `what` (the first
 * certificate of a bundle, or an unencrypted private key). Errors name the file, never its content.
 */
export const pemFile = (what: 'certificate' | 'private key') =>
  z
    .string()
    .trim()
    .superRefine((file, ctx) => {
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
        return void ctx.addIssue({ code: 'custom', message: `must name a readable file (${code})` });
      }
      if (what === 'private key' && /ENCRYPTED/.test(text)) {
        return void ctx.addIssue({ code: 'custom', message: 'must hold an unencrypted private key (no passphrase)' });
      }
      try {
        if (what === 'certificate') new X509Certificate(text);
        else createPrivateKey(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be a PEM file holding a ${what}` });
      }
    });

/** The client certificate was issued for this key; a file that cannot be parsed is reported on its own. */
export function keyMatches(certFile: string, keyFile: string): boolean {
  try {
    const certificate = new X509Certificate(fs.readFileSync(certFile, 'utf8'));
    return certificate.checkPrivateKey(createPrivateKey(fs.readFileSync(keyFile, 'utf8')));
  } catch {
    return true;
  }
}
