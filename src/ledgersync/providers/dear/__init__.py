"""DEAR Inventory / Cin7 Core: API-key connection, customers, products, sales (with invoices and payments),
credit notes, suppliers and purchases over the Cin7 Core API v2, paced under 60 calls a minute."""
