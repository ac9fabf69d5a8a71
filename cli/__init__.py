"""The `qianjia` command line."""
