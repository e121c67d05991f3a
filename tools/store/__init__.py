"""The shop's own records: customers, payment methods, products, orders and support tickets.

It plays the part of the shop's back office (CRM, order management, inventory, help desk),
in SQL, with the τ-bench retail domain's shape and rules so agents can be evaluated on it.
"""
