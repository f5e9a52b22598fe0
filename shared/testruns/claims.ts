/**
 * Which run a Virtuoso goal belongs to: `test_run_claims/goal:{goalId}` = {runId}, written with
 * `create()` right after the goal is created, so exactly one run can ever own it. A resumed run
 * adopts a same-named goal it cannot account for only if it can claim it — never a goal another
 * run (of any tenant, in the same Virtuoso project) created at the same time.
 */
import { ALREADY_EXISTS, collections, db, firestoreCall, firestoreCode } from '../firestore';

/** Claims stay long after any run that could resume (a TTL policy removes them, infra.ts). */
const CLAIM_DAYS = 30;

/** True when `runId` owns the goal now (it just claimed it, or had before). */
export async function claimGoal(goalId: string, runId: string): Promise<boolean> {
  const ref = db().collection(collections.testRunClaims).doc(`goal:${goalId}`);
  try {
    await firestoreCall(ref.create({ runId, createdAt: new Date(), expiresAt: new Date(Date.now() + CLAIM_DAYS * 86_400_000) }));
    return true;
  } catch (err) {
    if (firestoreCode(err) !== ALREADY_EXISTS) throw err;
  }
  return ((await firestoreCall(ref.get())).data() as { runId?: string } | undefined)?.runId === runId;
}
