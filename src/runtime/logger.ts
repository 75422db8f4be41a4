import winston from 'winston';
import type { LogLevel } from '../config/config';

export type Logger = winston.Logger;

/** JSON lines on stdout, one object per event, for journald and log shippers. */
export function createLogger(level: LogLevel, stream: NodeJS.WritableStream = process.stdout): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Stream({ stream })],
  });
}
