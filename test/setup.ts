/**
 * Preloaded before every test file (bunfig.toml): after the whole run, remove
 * the databases the tests made in the temporary directory (a full run leaves
 * a few hundred of them otherwise).
 */
import { afterAll } from "bun:test";
import { removeTempDirs } from "./helpers";

afterAll(removeTempDirs);
