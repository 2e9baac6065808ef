/** Waiting without blocking: a settable flag, a queue, a pause. */

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A flag callers can wait on (gevent's Event). */
export class Signal {
  private waiters: Array<() => void> = [];
  private on = false;

  get isSet(): boolean {
    return this.on;
  }

  set(): void {
    this.on = true;
    const waiters = this.waiters;
    this.waiters = [];
    waiters.forEach((wake) => wake());
  }

  clear(): void {
    this.on = false;
  }

  /** True once set, false after `timeoutMs`. */
  wait(timeoutMs: number): Promise<boolean> {
    if (this.on) {
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== wake);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(wake);
    });
  }
}

/** First in, first out, with a wait for the next item. */
export class Queue<T> {
  private items: T[] = [];
  private readonly arrived = new Signal();

  put(item: T): void {
    this.items.push(item);
    this.arrived.set();
  }

  clear(): void {
    this.items = [];
    this.arrived.clear();
  }

  /** The next item, or undefined after `timeoutMs`. */
  async get(timeoutMs: number): Promise<T | undefined> {
    const deadline = performance.now() + timeoutMs;
    while (!this.items.length) {
      const remaining = deadline - performance.now();
      if (remaining <= 0 || !(await this.arrived.wait(remaining))) {
        return undefined;
      }
      this.arrived.clear();
    }
    return this.items.shift();
  }
}
