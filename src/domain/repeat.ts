import type { Logger } from '../logger.js';

/** What a repeated job logs: once when its passes start failing, once when they work again. */
export interface RepeatMessages {
  failing: string;
  resumed: string;
}

/**
 * Runs `pass` now and then `intervalMs` after each pass ends, until stopped. A pass that throws is
 * logged once per run of failures and tried again at the next; `goOn` turns false once `stop` is
 * called, so a pass that loops can end after the piece of work in hand. `stop` waits for that.
 */
export function repeatEvery(
  intervalMs: number,
  pass: (goOn: () => boolean) => Promise<unknown>,
  messages: RepeatMessages,
  logger?: Logger,
): { stop(): Promise<void> } {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let failing = false;
  const goOn = () => !stopped;
  const once = async () => {
    try {
      await pass(goOn);
      if (failing) logger?.info(messages.resumed);
      failing = false;
    } catch (error) {
      if (!failing) logger?.warn({ err: error }, messages.failing);
      failing = true;
    }
    if (!stopped) timer = setTimeout(tick, intervalMs);
  };
  const tick = () => {
    running = once();
  };
  tick();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
