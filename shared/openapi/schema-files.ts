/**
 * The JSON Schemas the OpenAPI document is made of, by file name: the bodies the functions
 * validate (the same objects shared/schemas/index.ts compiles) and their answers.
 */
import batchRequest from '../schemas/batch-request.json';
import callbackSecret from '../schemas/callback-secret.json';
import command from '../schemas/command.json';
import commandList from '../schemas/command-list.json';
import commandRequest from '../schemas/command-request.json';
import delivery from '../schemas/delivery.json';
import deliveryBulkReplay from '../schemas/delivery-bulk-replay.json';
import deliveryList from '../schemas/delivery-list.json';
import deliveryReplay from '../schemas/delivery-replay.json';
import deliveryReplayRequest from '../schemas/delivery-replay-request.json';
import error from '../schemas/error.json';
import healthLive from '../schemas/health-live.json';
import healthReport from '../schemas/health-report.json';
import session from '../schemas/session.json';
import keyUsage from '../schemas/key-usage.json';
import sessionList from '../schemas/session-list.json';
import sessionRequest from '../schemas/session-request.json';
import testDefinition from '../schemas/test-definition.json';
import testRun from '../schemas/test-run.json';
import testRunCallback from '../schemas/test-run-callback.json';
import testRunList from '../schemas/test-run-list.json';
import testRunPlan from '../schemas/test-run-plan.json';
import testRunReport from '../schemas/test-run-report.json';
import testRunRequest from '../schemas/test-run-request.json';
import webhookReceipt from '../schemas/webhook-receipt.json';

export const SCHEMA_FILES: Record<string, object> = {
  'batch-request.json': batchRequest,
  'callback-secret.json': callbackSecret,
  'command.json': command,
  'command-list.json': commandList,
  'command-request.json': commandRequest,
  'delivery.json': delivery,
  'delivery-bulk-replay.json': deliveryBulkReplay,
  'delivery-list.json': deliveryList,
  'delivery-replay.json': deliveryReplay,
  'delivery-replay-request.json': deliveryReplayRequest,
  'error.json': error,
  'health-live.json': healthLive,
  'health-report.json': healthReport,
  'session.json': session,
  'key-usage.json': keyUsage,
  'session-list.json': sessionList,
  'session-request.json': sessionRequest,
  'test-definition.json': testDefinition,
  'test-run.json': testRun,
  'test-run-callback.json': testRunCallback,
  'test-run-list.json': testRunList,
  'test-run-plan.json': testRunPlan,
  'test-run-report.json': testRunReport,
  'test-run-request.json': testRunRequest,
  'webhook-receipt.json': webhookReceipt,
};
