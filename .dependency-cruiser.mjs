/** Import rules for src/ (issue 13): no cycles, and arrows run down from the entries. */
const ENTRIES = "^src/(main|verify-entry|plan-entry)[.]ts$";

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "A runtime import cycle; a type-only import erases at build time, so it does not count.",
      from: {},
      to: {
        circular: true,
        dependencyTypesNot: ["type-only"],
        viaOnly: { dependencyTypesNot: ["type-only"] },
      },
    },
    {
      name: "no-import-of-entries",
      severity: "error",
      comment: "The entries sit at the top: a stage module takes what it needs from below, never from an entry.",
      from: { path: "^src/" },
      to: { path: ENTRIES },
    },
    {
      name: "summary-only-from-entries",
      severity: "error",
      comment: "The run summary is written by the entries only; stages hand them a report instead.",
      from: { path: "^src/", pathNot: [ENTRIES, "^src/summary/"] },
      to: { path: "^src/summary/" },
    },
    {
      name: "not-to-unresolvable",
      severity: "error",
      comment: "An import that does not resolve would fail at build or run time.",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
    },
  },
};
