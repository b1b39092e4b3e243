/** Keyward's Tailwind theme: the single place for content paths and design tokens. */
const defaultTheme = require("tailwindcss/defaultTheme");
const colors = require("tailwindcss/colors");

/** @type {import('tailwindcss').Config} */
module.exports = {
  content: ["./views/**/*.templ", "./views/**/*.go", "./static/js/**/*.js"],
  // Follow the operating system's light/dark preference; there is no toggle.
  darkMode: "media",
  theme: {
    extend: {
      colors: {
        brand: colors.indigo,
      },
      fontFamily: {
        sans: ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", ...defaultTheme.fontFamily.sans],
        mono: ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", ...defaultTheme.fontFamily.mono],
      },
    },
  },
  plugins: [],
};
