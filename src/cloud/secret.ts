// A value that must never reach a log line, an error message or a serialised object: passwords, tokens,
// application credential secrets. The value lives in a private field; every way of printing the wrapper prints ***.

const inspectCustom = Symbol.for('nodejs.util.inspect.custom');

export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself. Call this only where the value goes on the wire (request bodies and auth headers). */
  reveal(): string {
    return this.#value;
  }

  /** True when both wrappers hold the same value (without revealing it). */
  equals(other: Secret | undefined): boolean {
    return other !== undefined && other.#value === this.#value;
  }

  toString(): string {
    return '***';
  }

  toJSON(): string {
    return '***';
  }

  [inspectCustom](): string {
    return 'Secret(***)';
  }

  get [Symbol.toStringTag](): string {
    return 'Secret';
  }
}
