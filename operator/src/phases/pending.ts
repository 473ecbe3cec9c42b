import { applyAction, enter, startOperation, type Ctx } from '../decide/context.ts';
import { deploymentHash } from '../decide/spec-diff.ts';
import { Phase, type Decision } from '../decide/types.ts';
import { reconciledJson } from './steady.ts';

/** A new app: deploy it (from spec.initialSavepoint, if set), or record it as suspended. */
export function pending(ctx: Ctx): Decision {
  if (ctx.spec.state === 'suspended') {
    return enter(ctx, Phase.Suspended, 'CreatedSuspended', 'created with spec.state=suspended; nothing deployed');
  }
  const restore = ctx.spec.initialSavepoint;
  return enter(ctx, Phase.Deploying, 'Deploying', `deploying${restore === undefined ? '' : ` from ${restore}`}`, {
    deadlineSeconds: ctx.spec.upgrade.deployTimeoutSeconds,
    actions: [applyAction(ctx.spec, restore)],
    patch: {
      lastReconciledSpec: reconciledJson(ctx),
      deployedSpecHash: deploymentHash(ctx.spec),
      operations: startOperation(ctx, 'deploy', 'created', restore),
    },
  });
}
