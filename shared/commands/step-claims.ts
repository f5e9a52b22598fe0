/**
 * Which command created each Virtuoso step: `created_steps/{stepId}` = {owner, tenantId}. Written
 * right after a step is created, so that an attempt retrying a command whose answer was lost can
 * tell its own step from an identical one another command created meanwhile.
 */
import { collections, db, firestoreCall, groupCommit, type AddWrite } from '../firestore';

const ref = (stepId: string) => db().collection(collections.createdSteps).doc(stepId);

/** The owner record of a step: where it goes and what it holds (for a caller's own batch or transaction). */
export const stepOwnerDoc = (stepId: string, owner: string, tenantId: string) => ({ ref: ref(stepId), data: { owner, tenantId, at: new Date() } });

/** The owner record as a write, for a caller to commit with its own (one round trip for both). */
export const stepOwnerWrite =
  (stepId: string, owner: string, tenantId: string): AddWrite =>
  (batch) => {
    const doc = stepOwnerDoc(stepId, owner, tenantId);
    batch.set(doc.ref, doc.data);
  };

export async function recordStepOwner(stepId: string, owner: string, tenantId: string): Promise<void> {
  await firestoreCall(groupCommit(stepOwnerWrite(stepId, owner, tenantId)));
}

/** The owners of the given steps, for those that have one recorded. */
export async function stepOwners(stepIds: readonly string[]): Promise<Map<string, string>> {
  if (!stepIds.length) return new Map();
  const snaps = await firestoreCall(db().getAll(...stepIds.map(ref)));
  return new Map(snaps.filter((s) => s.exists).map((s) => [s.id, s.get('owner') as string]));
}
