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

/** What each system error code means to a user, and what usually fixes it. */
const SYSTEM_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'the file is too large for the file system',
  EEXIST: 'a file of that name exists (a folder is needed)',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder, not a file',
  ENOENT: 'no such file or folder',
  ENAMETOOLONG: 'the name is too long',
  ENOTEMPTY: 'the folder is not empty',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'input/output error (a failing disk or network share?)',
  EBUSY: 'the file or device is busy',
  ELOOP: 'too many symbolic links in the path',
  EXDEV: 'cannot move a file across file systems',
};

/** What a failed system call was doing, for the message. */
const SYSCALL_VERBS: Record<string, string> = {
  open: 'cannot open', read: 'cannot read', write: 'cannot write', mkdir: 'cannot create folder',
  rename: 'cannot move', unlink: 'cannot delete', rmdir: 'cannot delete folder', scandir: 'cannot list folder',
  stat: 'cannot stat', lstat: 'cannot stat', fsync: 'cannot flush', close: 'cannot close', link: 'cannot link',
  copyfile: 'cannot copy', rm: 'cannot delete', access: 'cannot access', utime: 'cannot touch', chmod: 'cannot chmod',
  symlink: 'cannot link', opendir: 'cannot list folder', mkdtemp: 'cannot create folder', ftruncate: 'cannot truncate',
};

/**
 * The one place where system errors (NodeJS.ErrnoException: file system, permissions, disk full)
 * become one-line user errors: "cannot write runs/a/checkpoint.safetensors: no space left on the device (ENOSPC)".
 * Returns undefined for anything that is not a system error with a known code (a bug, not the user's).
 */
export function systemErrorToUserError(e: unknown, context?: string): UserError | undefined {
  if (e instanceof UserError) return e;
  const err = e as NodeJS.ErrnoException & { dest?: string };
  if (!err || typeof err !== 'object' || typeof err.code !== 'string' || !(err.code in SYSTEM_ERRORS)) return undefined;
  const verb = (err.syscall && SYSCALL_VERBS[err.syscall]) ?? (err.syscall ? `${err.syscall} failed on` : 'cannot use');
  const where = err.path ? `${err.path}${err.dest ? ` to ${err.dest}` : ''}` : '';
  const what = where ? `${verb} ${where}` : verb;
  return new UserError(`${context ? `${context}: ` : ''}${what}: ${SYSTEM_ERRORS[err.code]} (${err.code})`);
}

/**
 * Runs `write`, which writes `file`, so that a system error it throws names `file`. Node's writeFileSync and
 * appendFileSync on a name open it and then fail in write(2) on the descriptor (a full disk: ENOSPC), and that error
 * carries no path: the message would be "cannot write: no space left on the device" without saying which file.
 */
export function namingFile<T>(file: string, write: () => T): T {
  try {
    return write();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err && typeof err === 'object' && typeof err.code === 'string' && err.path === undefined) err.path = file;
    throw e;
  }
}

/** "permission denied (EACCES)" for a system error with a known code, else undefined. */
export function systemErrorReason(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException)?.code;
  return typeof code === 'string' && code in SYSTEM_ERRORS ? `${SYSTEM_ERRORS[code]} (${code})` : undefined;
}

/**
 * The CLI's rule for an error: a UserError or a system error a user can fix is one line and exit 1;
 * anything else is an internal error (exit 2). The stack trace is printed only with LTL_DEBUG=1.
 */
export function formatCliError(e: unknown, debug = process.env.LTL_DEBUG === '1'): { text: string; exitCode: number } {
  const user = systemErrorToUserError(e);
  const stack = debug && e instanceof Error && e.stack ? `\n${e.stack}` : '';
  if (user) return { text: `ltl: error: ${oneLine(user.message)}${stack}\n`, exitCode: 1 };
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return {
    text: `ltl: internal error: ${oneLine(msg)}${stack}\n${debug ? '' : 'ltl: (a bug: rerun with LTL_DEBUG=1 for the stack trace and report it)\n'}`,
    exitCode: 2,
  };
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

/** Runs `read`; a UserError it throws gets `advice` appended (what the user can do about a damaged file). */
export function withAdvice<T>(read: () => T, advice: string): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${e.message}; ${advice}`);
    throw e;
  }
}
