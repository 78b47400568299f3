"""One module per dialog; views stay thin: parse, call webapp.sms / webapp.jobs, render."""
