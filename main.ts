// The cdktf app: `npm run synth` (or `cdktf synth|diff|deploy`) runs the compiled
// copy of this file, dist/main.js. Environments live in modules/config/environments.ts.
import { projectConfig } from "./modules/config/environments";
import { buildApp } from "./stacks/app";

buildApp(projectConfig).synth();
