#!/usr/bin/env node
import { EXIT } from './command.js';
import { main } from './run.js';

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    if (process.stdin.isTTY) {
      resolve('');
      return;
    }
    const chunks: Buffer[] = [];
    process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  stdout: process.stdout,
  err: (text) => process.stderr.write(text),
  readStdin,
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`tally: ${(error as Error).message}\n`);
    process.exitCode = EXIT.failed;
  },
);
