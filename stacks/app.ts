import { App } from "cdktf";
import type { ProjectConfig } from "../modules/config/environments";
import { validateProject } from "../modules/config/validate";
import { PipelineStack } from "./pipeline-stack";
import { StateStack } from "./state-stack";

export interface BuildAppOptions {
  /** Output folder. @default cdktf's default ("cdktf.out", or CDKTF_OUTDIR when the CLI runs the app) */
  readonly outdir?: string;
}

/** Every stack of the project: `state` and one `pipeline-<env>` per environment. */
export function buildApp(config: ProjectConfig, options: BuildAppOptions = {}): App {
  validateProject(config);
  const app = new App({ outdir: options.outdir });
  new StateStack(app, "state", { config, backend: config.state.backend });
  for (const env of config.environments) {
    new PipelineStack(app, `pipeline-${env.name}`, { config, env });
  }
  return app;
}
