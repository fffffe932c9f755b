"""A person's own data (issue 20, the Act on the Protection of Personal Information): their export
from the account page and HR's disclosure file (開示請求). It reads across every domain: an edge package."""
