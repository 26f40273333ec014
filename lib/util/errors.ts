/**
 * An error meant for the user: the CLI prints its message on one line, with no stack trace,
 * and exits non-zero. Library code throws it for bad input (files, shapes, options).
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
