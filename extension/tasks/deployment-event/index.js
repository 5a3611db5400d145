// index.js: the "unbreakable deployment event" agent task. It reads the
// original push-deployment-event task's inputs (the agent passes each as an
// INPUT_<NAME> environment variable) and runs `unbreakable deploy-event`
// with them, so that the event, its release context (the ado.* properties
// self-healing needs), its retries and its check of Dynatrace's answer are
// the command's, tested once. No dependency: plain Node, no npm packages.
'use strict';

const { spawnSync } = require('child_process');

// A value the agent left as "$(name)" is a variable nobody defined.
const UNSET = /^\$\([^)]*\)$/;

function input(name) {
  const value = (process.env['INPUT_' + name.toUpperCase()] || '').trim();
  if (UNSET.test(value)) {
    console.log('input ' + name + ' is ' + value + ', a variable that is not defined: left out');
    return '';
  }
  return value;
}

// deploy-event's tag syntax [CONTEXT]KEY:VALUE, with ':' and '\' escaped.
function escapeTagPart(text) {
  return text.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
}

function tagArgument(context, key, value) {
  const prefix = context ? '[' + context + ']' : '';
  const tag = prefix + escapeTagPart(key);
  return value ? tag + ':' + escapeTagPart(value) : tag;
}

// The command line (no secret in it: the token goes in the environment).
function deployEventArgs() {
  const args = ['deploy-event'];
  const add = (flag, value) => { if (value) args.push(flag, value); };
  args.push('--tag', tagArgument(input('tagContext'), input('tagName'), input('tagValue')));
  add('--entity-type', input('entityType'));
  add('--name', input('deploymentName'));
  add('--version', input('deploymentVersion'));
  add('--project', input('deploymentProject'));
  add('--ci-link', input('ciLink'));
  const api = input('eventApi') || 'v2';
  args.push('--api', api);
  if (api === 'v1') args.push('--source', 'VSTS');
  // the original's custom properties, under the original's names
  for (const [name, key] of [['jenkinsUrl', 'JenkinsUrl'], ['buildUrl', 'BuildUrl'], ['gitCommit', 'GitCommit']]) {
    const value = input(name);
    if (value) args.push('--property', key + '=' + value);
  }
  return args;
}

function fail(message) {
  console.log('##vso[task.logissue type=error]' + message.replace(/[\r\n]+/g, ' '));
  console.log('##vso[task.complete result=Failed;]' + message.replace(/[\r\n]+/g, ' '));
  process.exitCode = 1;
}

function main() {
  const missing = ['dtTenantUrl', 'dtToken', 'tagName'].filter((name) => !input(name));
  if (missing.length) {
    fail('missing input ' + missing.join(', ') + ': set it in the task (or define the variable its default names)');
    return;
  }
  const token = input('dtToken');
  if (!/[\r\n]/.test(token)) console.log('##vso[task.setsecret]' + token);

  // The child sees the Dynatrace settings in its environment, and not the
  // task's own inputs (the token among them).
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('INPUT_') && key !== 'DT_API_TOKEN_FILE') env[key] = value;
  }
  env.DT_TENANT_URL = input('dtTenantUrl');
  env.DT_API_TOKEN = token;

  const program = input('unbreakablePath') || 'unbreakable';
  const args = deployEventArgs();
  console.log('running: ' + program + ' ' + args.map((a) => JSON.stringify(a)).join(' '));
  const run = spawnSync(program, args, { env, stdio: 'inherit' });
  if (run.error) {
    fail('could not run ' + program + ': ' + run.error.message +
         ' (install unbreakable on the agent in an earlier step, or set the input unbreakablePath)');
  } else if (run.status !== 0) {
    const why = run.status === null ? 'was killed by ' + run.signal : 'exited with ' + run.status;
    fail('unbreakable deploy-event ' + why + ': the deployment event was not recorded (see its message above)');
  } else {
    console.log('##vso[task.complete result=Succeeded;]deployment event recorded');
  }
}

main();
