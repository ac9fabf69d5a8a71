"""The WeChat adapter: webhook (verify → decrypt → parse → dedup), API client, fake server, simulator."""
