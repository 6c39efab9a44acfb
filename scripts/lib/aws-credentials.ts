/**
 * Whether this machine has AWS credentials `npm run plan` can use, without
 * calling AWS: it looks for the places the SDK and the Terraform provider read
 * them from, never at their values. EC2/ECS instance roles cannot be seen this
 * way; pass `--real` there.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/** Keys of an AWS config or credentials file section that can yield credentials. */
const CREDENTIAL_KEYS = /^\s*(aws_access_key_id|role_arn|credential_process|sso_session|sso_start_url|web_identity_token_file|credential_source|login_session)\s*=/m;

/**
 * Where credentials would come from (a short description for the log), or
 * undefined when none is found. `env` and `home` are parameters for tests.
 */
export function detectAwsCredentials(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string | undefined {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return "AWS_ACCESS_KEY_ID";
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE && env.AWS_ROLE_ARN) return "AWS_WEB_IDENTITY_TOKEN_FILE (OIDC role)";
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return "container credentials endpoint";
  if (env.AWS_PROFILE) return `AWS_PROFILE=${env.AWS_PROFILE}`;
  if (env.AWS_DEFAULT_PROFILE) return `AWS_DEFAULT_PROFILE=${env.AWS_DEFAULT_PROFILE}`;
  const credentialsFile = env.AWS_SHARED_CREDENTIALS_FILE || path.join(home, ".aws", "credentials");
  if (fileHasCredentialKeys(credentialsFile)) return credentialsFile;
  const configFile = env.AWS_CONFIG_FILE || path.join(home, ".aws", "config");
  if (fileHasCredentialKeys(configFile)) return configFile;
  return undefined;
}

function fileHasCredentialKeys(file: string): boolean {
  try {
    return CREDENTIAL_KEYS.test(fs.readFileSync(file, "utf8"));
  } catch {
    return false;
  }
}
