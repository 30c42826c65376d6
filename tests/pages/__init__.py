"""The pages in Chromium: the form, drafts, sign-in and an operator's edit, as a person uses them."""
