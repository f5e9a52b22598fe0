/**
 * Which command created each Virtuoso step: `created_steps/{stepId}` = {owner, tenantId}. Written
 * right after a step is created, so that an attempt retrying a command whose answer was lost can
 * tell its own step from an identical one another command created meanwhile.
 */
import { collections, db, groupCommit, type AddWrite } from '../firestore';

const ref = (stepId: string) => db().collection(collections.createdSteps).doc(stepId);

/** The owner record as a write, for a caller to commit with its own (one round trip for both). */
export const stepOwnerWrite =
  (stepId: string, owner: string, tenantId: string): AddWrite =>
  (batch) => {
    batch.set(ref(stepId), { owner, tenantId, at: new Date() });
  };

export async function recordStepOwner(stepId: string, owner: string, tenantId: string): Promise<void> {
  await groupCommit(stepOwnerWrite(stepId, owner, tenantId));
}

/** The owners of the given steps, for those that have one recorded. */
export async function stepOwners(stepIds: readonly string[]): Promise<Map<string, string>> {
  if (!stepIds.length) return new Map();
  const snaps = await db().getAll(...stepIds.map(ref));
  return new Map(snaps.filter((s) => s.exists).map((s) => [s.id, s.get('owner') as string]));
}
