/**
 * Argument parsing shared by the local world's commands (token, controller:build, tenant:move):
 * strict options, `--sandbox` and `--help` for all, and one way to fail (exit 2 with the usage).
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { DEFAULT_SANDBOX_DIR } from './state.ts';

const COMMON = {
  sandbox: { type: 'string', default: process.env.ETR_SANDBOX_DIR ?? DEFAULT_SANDBOX_DIR },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsOptionsConfig;

/** Exit 2 (bad arguments) prints the usage too; other codes only the message. */
export function failWith(usage: string, msg: string, code = 2): never {
  process.stderr.write(`${msg}\n${code === 2 ? usage + '\n' : ''}`);
  process.exit(code);
}

export function parseCli<O extends ParseArgsOptionsConfig>(usage: string, options: O) {  const config = { options: { ...options, ...COMMON }, strict: true } as const;
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    return failWith(usage, (err as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(usage + '\n');
    process.exit(0);
  }
  return parsed.values;
}
