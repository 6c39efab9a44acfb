import type { BuildOptions } from "esbuild";

/** esbuild's options for the project's Node scripts (scripts/node-build-options.js). */
export declare const NODE_SCRIPT_OPTIONS: Readonly<BuildOptions>;
