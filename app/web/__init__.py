"""What is about HTTP and pages, for every domain: errors, security headers, safe redirects,
pagination, locale selection, bounded ids, absolute links, charts, spreadsheet downloads and the
sanitised Markdown renderer."""
