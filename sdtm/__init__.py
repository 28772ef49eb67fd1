"""sdtm"""
