/**
 * Builds dist/ once before the suites that run the compiled service as a user
 * would (`npm start`, the `consumer-authz` CLI).
 */
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
}
