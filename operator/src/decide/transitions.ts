import { Phase } from './types.ts';

const P = Phase;

// Every phase change the operator may make. decide() asserts each change against this table,
// and the table test walks every edge.
export const transitions: Readonly<Record<Phase, readonly Phase[]>> = {
  Pending: [P.Deploying, P.Suspended, P.Deleting],
  Deploying: [P.Running, P.Restarting, P.Failed, P.Cancelling, P.Deleting],
  Running: [P.Stable, P.Savepointing, P.Cancelling, P.Suspending, P.Restarting, P.RollingBack, P.Deleting],
  Stable: [P.Savepointing, P.Cancelling, P.Suspending, P.Restarting, P.Deleting],
  Savepointing: [P.Cancelling, P.Running, P.Stable, P.Deleting],
  Suspending: [P.Cancelling, P.Running, P.Stable, P.Deleting],
  Cancelling: [P.Upgrading, P.Suspended, P.Deleting],
  Upgrading: [P.Running, P.RollingBack, P.Failed, P.Deleting],
  RollingBack: [P.RolledBack, P.Failed, P.Deleting],
  RolledBack: [P.Savepointing, P.Cancelling, P.Suspending, P.Restarting, P.Stable, P.Deleting],
  Suspended: [P.Deploying, P.Deleting],
  Restarting: [P.Deploying, P.Deleting],
  Failed: [P.Cancelling, P.Deleting],
  Deleting: [],
};

export function assertTransition(from: Phase, to: Phase): void {
  if (from !== to && !transitions[from].includes(to)) {
    throw new Error(`illegal phase transition ${from} → ${to}`);
  }
}
