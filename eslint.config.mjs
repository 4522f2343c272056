// ESLint for the app's own browser scripts (static/js/), run by `make test` (`npm run lint:js`).
// Plain browser scripts, no bundler: each file is one strict-mode IIFE using const/let.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["static/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: {
        ...globals.browser,
        htmx: "readonly", // django-htmx's bundled htmx 2
        Sortable: "readonly", // SortableJS, node_modules/sortablejs (package.json)
      },
    },
    rules: {
      strict: ["error", "function"],
      "no-var": "error",
      "prefer-const": "error",
      eqeqeq: ["error", "always"],
      "no-unused-vars": ["error", { args: "after-used", caughtErrors: "none" }],
    },
  },
];
