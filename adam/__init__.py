"""adam"""
