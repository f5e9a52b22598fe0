/**
 * The delivery pipeline's identity in the deploy plan (shared/infra.ts `ciCdBuilder`): the
 * `ci-cd-builder` service account cloudbuild.yaml runs as, with the seed's project roles, *act as*
 * on exactly the accounts a function deploy names (each function's runtime account and the build
 * account), and read access to the smoke check's secrets. Made on a full deploy (a person's run);
 * the pipeline itself runs `--functions-only` plans, which need nothing more.
 */
import * as infra from '../shared/infra';
import { IAM_RETRIES, functionEmail, invokerEmail, sa, serviceAccountEmail, withProject, type Ctx, type PlanStep } from './deploy-plan';

export const ciCdBuilderEmail = (projectId: string) => serviceAccountEmail(infra.ciCdBuilder.id, projectId);

/** The account, with the other service accounts (before any grant). */
export function ciCdBuilderAccountSteps(c: Ctx): PlanStep[] {
  if (!c.full) return [];
  const { id, displayName } = infra.ciCdBuilder;
  return [{
    kind: 'service-account',
    description: `service account ${id} (the delivery pipeline, cloudbuild.yaml)`,
    args: withProject(c, 'iam', 'service-accounts', 'create', id, `--display-name=${displayName}`),
    allowExists: true,
  }];
}

/** Its grants, once the function accounts and the secrets exist. */
export function ciCdBuilderGrantSteps(c: Ctx): PlanStep[] {
  if (!c.full) return [];
  const { id, roles, secrets } = infra.ciCdBuilder;
  const member = sa(ciCdBuilderEmail(c.P));
  const actAs = [...c.input.functions.map((f) => functionEmail(f.name, c.P)), invokerEmail('builder', c.P)];
  return [
    ...roles.map((role): PlanStep => ({
      kind: 'iam',
      description: `${role} on the project for ${id} (the delivery pipeline)`,
      args: ['gcloud', 'projects', 'add-iam-policy-binding', c.P, `--member=${member}`, `--role=${role}`, '--condition=None'],
      retries: IAM_RETRIES,
    })),
    ...actAs.map((email): PlanStep => ({
      kind: 'iam',
      description: `${id} may deploy functions running (or built) as ${email.split('@')[0]}`,
      args: withProject(c, 'iam', 'service-accounts', 'add-iam-policy-binding', email, `--member=${member}`, '--role=roles/iam.serviceAccountUser'),
      retries: IAM_RETRIES,
    })),
    ...secrets.map((secret): PlanStep => ({
      kind: 'iam',
      description: `${id} may read secret ${secret} (the smoke check)`,
      args: withProject(c, 'secrets', 'add-iam-policy-binding', secret, `--member=${member}`, '--role=roles/secretmanager.secretAccessor'),
      retries: IAM_RETRIES,
    })),
  ];
}
