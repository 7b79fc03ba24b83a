"""The book's own settings and notebook helpers: which models each chapter trains, how a
chapter states its checks, shows code, figures and exercises. Imports the library; the
library never imports this package."""
