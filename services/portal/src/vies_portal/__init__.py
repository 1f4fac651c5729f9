"""The VIES web portal: pages for candidates and authorities over the four services' APIs."""
