import type { ErrorCode } from '../api/contract.ts';

/** An error the control API answers with its stable code (and never retries by itself). */
export class ControlError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, status: number, message: string) {
    super(message);
    this.name = 'ControlError';
    this.code = code;
    this.status = status;
  }
}

export const notFound = (message: string): ControlError => new ControlError('NOT_FOUND', 404, message);
export const conflict = (message: string): ControlError => new ControlError('CONFLICT', 409, message);
export const badRequest = (message: string): ControlError => new ControlError('BAD_REQUEST', 400, message);
export const unavailable = (message: string): ControlError => new ControlError('UNAVAILABLE', 503, message);
