"use strict";

/**
 * `serverless invoke local` honours the caller's environment (SPEC section 7).
 *
 * osls sets every variable of `provider.environment` and the function's `environment` over the
 * shell's, so a variable an operator exported (CHAT_LOG_GROUP, SETTLE_SECONDS, ...) lost to the
 * stage's parameter, and a `!Ref` was resolved against a deployed stack even when the shell named
 * the resource. For `invoke local` only, this plugin puts the shell's value in place of the
 * configured one for every variable the shell sets; `--env KEY=value` still wins over both.
 * Deployments are untouched: there the parameters decide.
 *
 * RECORDING_BUCKETS guards a deployed stack (its IAM grants name those buckets); locally there is
 * no such grant, so unless the shell sets it, `invoke local` accepts recordings in any bucket.
 */
const DEPLOYED_ONLY = ["RECORDING_BUCKETS"];

class InvokeLocalEnvironment {
  constructor(serverless, options) {
    this.serverless = serverless;
    this.options = options ?? {};
    // Taken before osls writes the configured values into process.env.
    this.shell = { ...process.env };
    // osls loads the configured variables in its own `before:invoke:local:loadEnvVars` hook, which
    // runs before any service plugin's: `initialize` comes first for every command.
    this.hooks = { initialize: () => this.preferShell() };
  }

  preferShell() {
    if (this.serverless.processedInput.commands.join(" ") !== "invoke local") return;
    // The function runs in this Node (20 here; nodejs24.x deployed): the SDK's notice that its 2027
    // releases need Node 22 would follow every invoke. The shell can still set it to "false".
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    const { service } = this.serverless;
    const fn = service.getFunction(this.options.function);
    for (const environment of [service.provider.environment, fn.environment]) {
      if (environment === undefined || environment === null) continue;
      for (const name of Object.keys(environment)) {
        if (this.shell[name] !== undefined) environment[name] = this.shell[name];
        else if (DEPLOYED_ONLY.includes(name)) delete environment[name];
      }
    }
  }
}

module.exports = InvokeLocalEnvironment;
