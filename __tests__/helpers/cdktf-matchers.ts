/**
 * cdktf's jest matchers (toHaveResourceWithProperties, …), for the test files
 * that use them: `import "./helpers/cdktf-matchers";`. Not a global setup file:
 * loading cdktf costs every other test file half a second it does not need.
 */
import "cdktf/lib/testing/adapters/jest";
import { Testing } from "cdktf";

Testing.setupJest();
