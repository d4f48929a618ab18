"""Every CSV upload of the console (member import, coupon lists and partner codes, reward codes, bulk grants):
the upload form's fields (forms), the bytes decoded or the whole file refused (decoding), the text cut into
records the one way (reading). Each app validates its own columns."""
