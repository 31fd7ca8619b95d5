"""Customers, projects, project groups and the roles people hold on them."""
