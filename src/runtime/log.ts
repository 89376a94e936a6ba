// JSON-lines logging with winston (SPEC §3.10): one object per line with time, level, message, and the fields
// the caller gives (object key, decision, cloud request id, duration). Secrets are never passed in.
import winston from 'winston';
import type { Logger } from '../controller/logger.ts';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

class WinstonLogger implements Logger {
  private readonly w: winston.Logger;
  constructor(w: winston.Logger) {
    this.w = w;
  }
  debug(msg: string, meta?: Record<string, unknown>): void {
    this.w.debug(msg, meta);
  }
  info(msg: string, meta?: Record<string, unknown>): void {
    this.w.info(msg, meta);
  }
  warn(msg: string, meta?: Record<string, unknown>): void {
    this.w.warn(msg, meta);
  }
  error(msg: string, meta?: Record<string, unknown>): void {
    this.w.error(msg, meta);
  }
  child(meta: Record<string, unknown>): Logger {
    return new WinstonLogger(this.w.child(meta));
  }
}

export function createLogger(level: LogLevel = 'info', meta: Record<string, unknown> = {}): Logger {
  const w = winston.createLogger({
    level,
    defaultMeta: meta,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: [] })],
  });
  return new WinstonLogger(w);
}
