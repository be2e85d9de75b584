"""An e-commerce platform's webhook deliveries (in the style of Saleor's ``webhook/transport/asynchronous``)."""
