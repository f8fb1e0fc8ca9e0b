"""Email previews: one sample job per summary template, rendered to HTML and to PNG by headless Chromium.

``python -m email_preview OUT_DIR`` writes ``<template>.html`` and ``<template>.png`` for each sample
(``docs/email/`` holds one such set). The render test (tests/render) uses the same samples and renderer.
"""
